// Runs the GraphQL-over-HTTP reference audit (graphql-http's serverAudits) against a
// server and prints each result as one JSON line: {id, name, status, reason?, body?}.
// Usage: node audit.mjs http://127.0.0.1:8000/graphql
import { serverAudits } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs URL');
  process.exit(2);
}

for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== 'ok') {
    line.reason = result.reason;
    // The response a failed audit saw, so a failure can be understood from the log.
    line.responseStatus = result.response.status;
    line.responseType = result.response.headers.get('content-type');
    line.body = await result.response.text().catch(() => null);
  }
  console.log(JSON.stringify(line));
}
