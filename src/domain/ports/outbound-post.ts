/** The answer to one POST to a URL someone gave us: the HTTP status, or why there was none. */
export interface PostResult {
  httpStatus: number | null;
  /** null on a 2xx answer; otherwise the status and the start of the body, or the failure. */
  error: string | null;
}

/** POSTs JSON to an outside URL, guarded against private destinations, within a deadline. */
export type OutboundPost = (
  url: string,
  headers: Record<string, string>,
  body: string,
) => Promise<PostResult>;
