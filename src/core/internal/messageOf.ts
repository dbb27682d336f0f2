/**
 * An error's message for a log line or another error's text: its `message`
 * when it has one, else its tag (a `Data.TaggedError` without a message),
 * else the value as a string.
 */
export const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const { _tag, message } = error as { readonly _tag?: unknown; readonly message?: unknown }
    if (typeof message === "string" && message !== "") return message
    if (typeof _tag === "string") return _tag
  }
  return String(error)
}
