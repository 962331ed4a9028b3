/**
 * The shape of a SendGrid v3 `POST /v3/mail/send` request, as far as Tegami reads it (the rest is
 * kept and forwarded as sent). Apart from request.ts so that `MessageContent` (types.ts) can name
 * it without an import cycle.
 */

export interface SendGridAddress {
  email: string;
  name?: string;
}

export interface SendGridPersonalization {
  to: SendGridAddress[];
  cc?: SendGridAddress[];
  bcc?: SendGridAddress[];
  from?: SendGridAddress;
  subject?: string;
  headers?: Record<string, string>;
  substitutions?: Record<string, string>;
  dynamic_template_data?: Record<string, unknown>;
  custom_args?: Record<string, string>;
  send_at?: number;
  [field: string]: unknown;
}

export interface SendGridContent {
  type: string;
  value: string;
}

export interface SendGridAttachment {
  content: string;
  type?: string;
  filename: string;
  disposition?: string;
  content_id?: string;
}

export interface MailSendRequest {
  personalizations: SendGridPersonalization[];
  from: SendGridAddress;
  reply_to?: SendGridAddress;
  reply_to_list?: SendGridAddress[];
  subject?: string;
  content?: SendGridContent[];
  attachments?: SendGridAttachment[];
  template_id?: string;
  headers?: Record<string, string>;
  categories?: string[];
  custom_args?: Record<string, string>;
  send_at?: number;
  batch_id?: string;
  mail_settings?: Record<string, { enable?: boolean } | undefined>;
  tracking_settings?: Record<string, { enable?: boolean } | undefined>;
  [field: string]: unknown;
}

/** Where a message came from when it came in through `POST /v3/mail/send`. */
export interface SendGridOrigin {
  /** The `X-Message-Id` the application was answered with (SendGrid's 22-character form). */
  xMessageId: string;
  /** The request as sent; kept when the `sendgrid` provider forwards it. */
  request?: MailSendRequest;
  /** The personalization this message was rendered from (providers other than `sendgrid`). */
  personalization?: number;
}
