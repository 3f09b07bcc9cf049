/** At most this many lexemes of a question are searched for. */
export const MOST_LEXEMES = 16;

/** The distinct English lexemes of a text ($1), in the order they first appear. */
export const LEXEMES = `SELECT lexeme FROM unnest(to_tsvector('english'::regconfig, $1)) ORDER BY positions[1] LIMIT ${MOST_LEXEMES}`;

/** A lexeme as a one-term tsquery, quoted as tsquery input wants it (no normalizing again). */
export const tsqueryOf = (lexeme: string) => `'${lexeme.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;

/**
 * Full-text recall of `k` lexemes in one statement. Parameters: $1 to $4 the scope, $5 the lexemes
 * OR-ed as one tsquery, $6 the limit, then each lexeme as a tsquery. Notes holding any lexeme (GIN) are ranked by the summed rarity of the lexemes
 * each holds, counted among those notes (BM25's idf): `ts_rank` alone weighs a common word like a
 * rare one. Only the flags of the candidates are kept; the best are read whole. Ties go to the newer note.
 * Not a named statement: a generic plan cannot tell a scope of 100 notes from one of 100,000 and
 * ANDs the scope index into every recall, reading all of a large scope's index entries; planned each
 * time, a large scope uses the GIN index alone and a small one both.
 */
export function recallStatement(s: string, columns: readonly string[], k: number): string {
  const range = Array.from({ length: k }, (_, i) => i);
  const held = range.map((i) => `tsv @@ $${i + 7}::tsquery AS m${i}`).join(', ');
  const counts = range.map((i) => `count(*) FILTER (WHERE m${i})::float8 AS d${i}`).join(', ');
  const score = range.map((i) => `CASE WHEN m${i} THEN ln((f.n - f.d${i} + 0.5) / (f.d${i} + 0.5) + 1) ELSE 0 END`).join(' + ');
  return `WITH c AS MATERIALIZED (
      SELECT id, created_at, ${held} FROM ${s}.memory_notes
      WHERE tenant = $1 AND user_id = $2 AND agent = $3 AND thread = $4 AND tsv @@ $5::tsquery),
    f AS (SELECT count(*)::float8 AS n, ${counts} FROM c),
    best AS (SELECT c.id, c.created_at, ${score} AS score FROM c, f ORDER BY score DESC, c.created_at DESC, c.id LIMIT $6)
    SELECT ${columns.map((column) => `n.${column}`).join(', ')}, best.score FROM best JOIN ${s}.memory_notes n ON n.id = best.id
    ORDER BY best.score DESC, best.created_at DESC, best.id`;
}
