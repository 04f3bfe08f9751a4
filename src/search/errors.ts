/** A failure search that cannot run as asked (bad budget, settings, space, or an evaluate that breaks its contract). */
export class SearchInputError extends Error {
  override readonly name = "SearchInputError";
  constructor(
    readonly code: "invalid-budget" | "invalid-setting" | "empty-space" | "evaluate-contract",
    message: string,
  ) {
    super(message);
  }
}
