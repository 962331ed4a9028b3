/** The bodies SendGrid answers with when it refuses a request, and nginx's page when it fails. */

/** SendGrid's error answer: `{"errors":[{message, field, help}]}`. */
function sgErrors(message: string, field: string | null = null, help: string | null = null) {
  return JSON.stringify({ errors: [{ message, field, help }] });
}

export const BODIES = {
  badRequest: sgErrors('Bad Request'),
  unauthorized: sgErrors('The provided authorization grant is invalid, expired, or revoked'),
  authorizationRequired: sgErrors('authorization required'),
  notFound: sgErrors('not found'),
  methodNotAllowed: sgErrors('method not allowed'),
  tooLarge: sgErrors('content too large'),
  tooManyRequests: sgErrors('too many requests'),
};

const STATUS_MESSAGES: Record<number, string> = {
  400: 'Bad Request',
  401: 'The provided authorization grant is invalid, expired, or revoked',
  403: 'access forbidden',
  404: 'not found',
  405: 'method not allowed',
  413: 'content too large',
  429: 'too many requests',
  500: 'internal server error',
  502: 'bad gateway',
  503: 'service unavailable',
  504: 'gateway timeout',
};

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Not Allowed',
  408: 'Request Time-out',
  413: 'Request Entity Too Large',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Temporarily Unavailable',
  504: 'Gateway Time-out',
};

/** The page nginx answers with when the service behind it fails. */
export function nginxErrorPage(status: number): string {
  const title = `${status} ${REASONS[status] ?? 'Error'}`;
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

/**
 * SendGrid's answer with this status and no particular cause. A 403 here is the account's (the
 * spec's "access forbidden", field null), which a client must take as a refused account; the
 * 403 about one message's sender, field "from", is the `unverifiedSenders` fault's alone.
 */
export function errorBody(status: number): string {
  return sgErrors(STATUS_MESSAGES[status] ?? `http error ${status}`);
}
