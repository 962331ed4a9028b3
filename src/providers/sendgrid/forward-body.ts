import type { MailSendRequest } from '../../domain/sendgrid-compat/request-types.ts';
import { TEGAMI_ID_ARG } from './mail-send-body.ts';

/**
 * The body for a request that came in through Tegami's `POST /v3/mail/send`: the application's
 * request as it sent it (suppressed addresses taken out by the delivery worker), so templates,
 * substitutions and settings work exactly as they did. The only addition is our message id in
 * every personalization's custom_args, after the application's own, for matching delivery
 * events; acceptance counted its bytes against SendGrid's 10,000-byte limit.
 */
export function forwardedMailSendBody(
  request: MailSendRequest,
  messageId: string,
): MailSendRequest {
  return {
    ...request,
    personalizations: request.personalizations.map((p) => ({
      ...p,
      custom_args: { ...(p.custom_args ?? {}), [TEGAMI_ID_ARG]: messageId },
    })),
  };
}
