/** The console's tables as Kysely sees them (migration 013). */
export interface ConsoleUserTable {
  id: string;
  /** Lower-cased. */
  email: string;
  /** `scrypt$N$r$p$salt$hash` (domain/console-users.ts). */
  password_hash: string;
  role: string;
  /** JSON array of unit ids; null: every unit. */
  unit_ids: string | null;
  can_read_bodies: number;
  failed_sign_ins: number;
  locked_until: number | null;
  created_at: number;
}

export interface ConsoleSessionTable {
  /** SHA-256 of the cookie's token. */
  token_hash: string;
  user_id: string;
  csrf_token: string;
  unit_id: string | null;
  created_at: number;
  last_seen_at: number;
}
