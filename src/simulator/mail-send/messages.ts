/** SendGrid's limits on a mail/send body, and its words when a body breaks one of its rules. */

/** Header names SendGrid does not let a sender set (compared case-insensitively). */
export const RESERVED_HEADERS = new Set([
  'x-sg-id',
  'x-sg-eid',
  'received',
  'dkim-signature',
  'content-type',
  'content-transfer-encoding',
  'to',
  'from',
  'subject',
  'reply-to',
  'cc',
  'bcc',
]);

/** SendGrid's limit on a mail/send request, once unpacked if it came gzip'd. */
export const BODY_LIMIT = 30 * 1024 * 1024;
export const MAX_PERSONALIZATIONS = 1000;
export const MAX_RECIPIENTS = 1000;
export const MAX_CATEGORIES = 10;
export const MAX_CATEGORY_LENGTH = 255;
export const MAX_SCHEDULE_AHEAD_S = 72 * 3600;
/** Per personalization, its custom_args merged over the message's, measured as JSON. */
export const MAX_CUSTOM_ARGS_BYTES = 10_000;
/** Per personalization, its substitutions, measured as JSON (SendGrid's OpenAPI description). */
export const MAX_SUBSTITUTIONS_BYTES = 10_000;

export const M = {
  personalizationsRequired:
    'The personalizations field is required and must have at least one personalization.',
  personalizationsTooMany: (n: number) =>
    `The personalization block is limited to ${MAX_PERSONALIZATIONS} personalizations per API request. You have provided ${n} personalizations. Please consider splitting this into multiple requests and resending your request.`,
  recipientsTooMany: `There is a limit of ${MAX_RECIPIENTS} total recipients (to + cc + bcc) per request.`,
  toRequired:
    'The to array is required for all personalization objects, and must have at least one email object with a valid email address.',
  recipientEmailRequired: (kind: string) => `The ${kind} email parameter is required.`,
  recipientListEmpty: (kind: string) =>
    `The ${kind} array, when used, must at least have an email parameter with a valid email address and it may also contain a name parameter. e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.`,
  duplicateRecipient: (email: string, where: string) =>
    `Each email address in the personalization block should be unique between to, cc, and bcc. We found the first duplicate instance of [${email}] in the ${where} field.`,
  invalidAddress: 'Does not contain a valid address.',
  fromRequired:
    'The from object must be provided for every email send. It is an object that requires the email parameter, but may also contain a name parameter.  e.g. {"email" : "example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.',
  fromInvalid: 'The from email does not contain a valid address.',
  subjectRequired:
    'The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.',
  subjectEmpty: 'The subject of your email must be a string at least one character in length.',
  contentRequired:
    'Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block. We typically suggest both text/plain and text/html blocks are included, but only one block is required.',
  contentTypeEmpty: 'The content type must be a string at least one character in length.',
  contentValueEmpty: 'The content value must be a string at least one character in length.',
  contentOrder:
    'Following RFC 1341, section 7.2, if either text/html or text/plain are to be sent in your email: text/plain needs to be first, followed by text/html, followed by any other content.',
  categoriesTooMany: `Too many categories on this message, the maximum is ${MAX_CATEGORIES}`,
  categoryTooLong: (category: string) =>
    `Each category must not be longer than ${MAX_CATEGORY_LENGTH} characters. ${category} exceeds this limit.`,
  categoryDuplicate: (category: string) =>
    `The categories must be a unique list, and you have included ${category} more than once.`,
  categoryNonAscii: 'Categories can not contain non-ASCII characters.',
  headerReserved: 'Header can not be one of the reserved keys.',
  headerValues: 'The header values must be strings.',
  headerKeys: "Header keys can't contain non-ASCII characters and empty spaces.",
  customArgsStrings: 'All values of custom arguments object must be strings',
  customArgsEmpty: 'custom_args cannot be empty.',
  customArgsTooLarge:
    'The combined size of both global and personalization custom arguments may not exceed 10,000 bytes per personalization.',
  substitutionsTooLarge:
    'The total collective size of your substitutions may not exceed 10,000 bytes per personalization object.',
  attachmentBase64: 'The attachment content must be base64 encoded.',
  attachmentContentEmpty:
    'The attachment content must be a string at least one character in length.',
  attachmentFilename: 'filename is required.',
  attachmentFilenameLineBreak: 'The filename of your attachment cannot contain CRLF characters.',
  attachmentType: "The type cannot contain ';', or CRLF characters.",
  replyToBoth:
    'You may use either the reply_to object or the reply_to_list array, but not both, in a single request.',
  sendAtInteger:
    'The send_at parameter is expecting a UNIX timestamp as an integer. We will send immediately if you include a send_at timestamp that is in the past.',
  sendAtTooFar: 'Scheduling more than 72 hours in advance is forbidden.',
};
