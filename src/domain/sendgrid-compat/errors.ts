/**
 * The shape of SendGrid's mail/send errors and its help links, for `POST /v3/mail/send`: an
 * application that reads SendGrid's `errors[]` reads Tegami's the same way.
 */

/** One entry of SendGrid's `{"errors": [...]}`. */
export interface SendGridError {
  message: string;
  field: string | null;
  help: string | null;
}

const HELP = 'http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html';

/** SendGrid's help link for a field: numeric indexes and a trailing `.email` dropped. */
export function help(field: string): string {
  const anchor = field
    .split('.')
    .filter((p) => !/^\d+$/.test(p))
    .join('.')
    .replace(/\.email$/, '');
  return `${HELP}#message.${anchor}`;
}

/**
 * A field as Tegami's own checks name it (`personalizations[0].to[1].email`, `.subject` at the
 * root) in the dotted form SendGrid's errors use (`personalizations.0.to.1.email`), so an
 * application looks for one spelling whichever check refused it.
 */
export function sendGridField(path: string): string {
  return path.replace(/\[(\d+)\]/g, '.$1').replace(/^\./, '');
}

export function error(message: string, field: string, helpAnchor?: string): SendGridError {
  return { message, field, help: helpAnchor ? `${HELP}#${helpAnchor}` : help(field) };
}

/** Errors about a relation between parts; they do not hide schema errors inside those parts. */
const RELATIONAL = new WeakSet<SendGridError>();

export function relational(e: SendGridError): SendGridError {
  RELATIONAL.add(e);
  return e;
}

export function isRelational(e: SendGridError): boolean {
  return RELATIONAL.has(e);
}
