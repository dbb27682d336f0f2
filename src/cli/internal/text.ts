/**
 * Text for the terminal: lines built as `@effect/printer` documents with
 * `@effect/printer-ansi` colours, rendered with the colours on a terminal
 * and without them anywhere else (pipes, files, CI logs).
 */
import * as Doc from "@effect/printer/Doc"
import * as Ansi from "@effect/printer-ansi/Ansi"
import * as AnsiDoc from "@effect/printer-ansi/AnsiDoc"

export type Line = Doc.Doc<Ansi.Ansi>

export { Ansi }

/** Plain text. */
export const plain = (text: string): Line => Doc.text(text)

/** Text in a colour or style. */
export const styled = (text: string, style: Ansi.Ansi): Line => Doc.annotate(Doc.text(text), style)

/** Pieces side by side, as one line. */
export const line = (...parts: ReadonlyArray<Line | string>): Line =>
  Doc.hcat(parts.map((part) => (typeof part === "string" ? Doc.text(part) : part)))

/** Text padded on the right to `width` characters. */
export const pad = (text: string, width: number): string => text.padEnd(width)

/** Words filled into lines as wide as the rendering allows, each line after the first indented like the first. */
export const paragraph = (text: string, indent: number): Line => Doc.indent(Doc.reflow(text), indent)

/** Lines one under the other, with colours when `color`; paragraphs wrapped at `width`. */
export const render = (lines: ReadonlyArray<Line>, color: boolean, width = 1000): string => {
  const doc = Doc.vsep(lines)
  const options = { lineWidth: width }
  return color ?
    AnsiDoc.render(doc, { style: "pretty", options }) :
    Doc.render(Doc.unAnnotate(doc), { style: "pretty", options })
}

/** A table: a header row and rows of cells, each column as wide as its widest cell; numbers right-aligned. */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>): Array<Line> => {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const cells = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (/^[\d.,%\s-]+$/.test(cell) && i > 0 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
  return [styled(cells(header), Ansi.bold), ...rows.map((row) => plain(cells(row)))]
}
