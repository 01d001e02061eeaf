// Logs in with the PostgreSQL URL in DATABASE_URL the way Macro AI's API does: the seed's own
// client (postgres-js, `postgres(credentials.url)`) and node-postgres. Prints one JSON line,
// {"postgres": <session_user (the login) or "refused: <code>">, "pg": <the same>}; never the URL.
import postgres from "postgres";
import pg from "pg";

const url = process.env.DATABASE_URL;
const out = {};
try {
  const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
  const [row] = await sql`select session_user as u`;
  out.postgres = row.u;
  await sql.end();
} catch (e) {
  out.postgres = `refused: ${e.code ?? e.name}`;
}
try {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  const { rows } = await client.query("select session_user as u");
  out.pg = rows[0].u;
  await client.end();
} catch (e) {
  out.pg = `refused: ${e.code ?? e.name}`;
}
console.log(JSON.stringify(out));
