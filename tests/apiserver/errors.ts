/**
 * The API server fixture's error type and raw object type, shared by its storage, allocators and
 * patch handling.
 *
 * @module
 */

/** A raw API object, as JSON. */
// deno-lint-ignore no-explicit-any
export type RawObject = Record<string, any>;

/** Thrown for a request the API server would refuse; `code` is the HTTP status. */
export class ApiError extends Error {
  /** HTTP status code (400, 404, 409, 410, ...). */
  readonly code: number;
  /** Kubernetes `Status.reason` ("NotFound", "AlreadyExists", ...). */
  readonly reason: string;
  /**
   * @param code HTTP status code.
   * @param reason Kubernetes `Status.reason`.
   * @param message Human-readable message.
   */
  constructor(code: number, reason: string, message: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.reason = reason;
  }
}
