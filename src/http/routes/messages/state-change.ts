import type { StateChange } from '../../../domain/ports/message-store.ts';
import { ApiError } from '../../errors.ts';
import { presentMessage } from '../../present/message.ts';

/** The answer to cancelling or retrying a message: the message, or why it could not be. */
export function stateChangeResult(change: StateChange, id: string, action: 'cancel' | 'retry') {
  if (change.kind === 'not_found') throw new ApiError('not_found', `no message with id ${id}`);
  if (change.kind === 'wrong_status') {
    const allowed = action === 'cancel' ? 'queued or scheduled' : 'failed';
    throw new ApiError(
      'invalid_state',
      `cannot ${action} a message that is ${change.status}; only ${allowed} messages can be`,
    );
  }
  return presentMessage(change.record, true);
}
