import type { CredentialCheck } from '../../domain/types.ts';

/**
 * SendGrid's `GET /v3/scopes` lists the permissions of the API key that asks, and answers 401
 * to a key it does not know: one request that sends nothing tells whether the key can send.
 */

export const SCOPES_PATH = '/v3/scopes';
/** The permission `POST /v3/mail/send` needs. */
export const MAIL_SEND_SCOPE = 'mail.send';

function firstErrorMessage(body: string): string | null {
  try {
    const parsed = JSON.parse(body) as { errors?: { message?: unknown }[] };
    const message = parsed.errors?.[0]?.message;
    return typeof message === 'string' ? message.slice(0, 300) : null;
  } catch {
    return null;
  }
}

function excerpt(body: string): string {
  const text = (/<title>([^<]{1,200})<\/title>/i.exec(body)?.[1] ?? body).replace(/\s+/g, ' ');
  return text.trim().slice(0, 200);
}

/** Reads SendGrid's answer to `GET /v3/scopes`. */
export function classifyScopesAnswer(status: number, body: string): CredentialCheck {
  if (status === 200) {
    let scopes: unknown;
    try {
      scopes = (JSON.parse(body) as { scopes?: unknown }).scopes;
    } catch {
      // reported below
    }
    if (!Array.isArray(scopes)) {
      return {
        result: 'unverified',
        detail: `GET ${SCOPES_PATH} answered 200 without a list of scopes: ${excerpt(body)}`,
      };
    }
    if (scopes.includes(MAIL_SEND_SCOPE)) {
      return { result: 'valid', detail: `the API key has the ${MAIL_SEND_SCOPE} permission` };
    }
    return {
      result: 'refused',
      detail: `the API key lacks the ${MAIL_SEND_SCOPE} permission; give it "Mail Send" access in SendGrid (Settings > API Keys) or use another key`,
    };
  }
  const said = firstErrorMessage(body) ?? excerpt(body);
  if (status === 401 || status === 403) {
    return {
      result: 'refused',
      detail: `SendGrid refused the API key (HTTP ${status}${said ? `: ${said}` : ''}); check TEGAMI_SENDGRID_API_KEY`,
    };
  }
  return {
    result: 'unverified',
    detail: `GET ${SCOPES_PATH} answered HTTP ${status}${said ? `: ${said}` : ''}`,
  };
}

/** A network failure: nothing is known about the key. */
export function unreachable(code: string, message: string): CredentialCheck {
  return {
    result: 'unverified',
    detail: `SendGrid could not be reached to check the API key (${code}: ${message})`,
  };
}
