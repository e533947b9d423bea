// A foreign MCP client for hive-mcp: the official TypeScript SDK drives the
// support_desk agent through start_execution -> get_events -> send_input.
//
//   node ts_client.mjs stdio <command> [args...]   spawns the server (with this process's env)
//   node ts_client.mjs http <url>                  Streamable HTTP; bearer token from HIVE_MCP_TOKEN
//
// On success it prints one line of JSON: {"tools": [...], "status": ..., "reply": ...}.
// On any failure it writes the reason to stderr and exits non-zero.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const REQUIRED_TOOLS = ['start_execution', 'get_events', 'send_input', 'get_execution', 'run_support_desk'];
const QUESTION = 'How do I reset my password?';
const DEADLINE_MS = 45_000; // the whole conversation; the test's own timeout is longer

function fail(message) {
  process.stderr.write(`ts_client: ${message}\n`);
  process.exit(1);
}

function makeTransport(argv) {
  const [mode, ...rest] = argv;
  if (mode === 'stdio' && rest.length > 0) {
    // The SDK would otherwise pass on only HOME, PATH and a few more; the server needs
    // HIVE_MCP_HOME and friends, so it gets exactly the environment we were given.
    return new StdioClientTransport({ command: rest[0], args: rest.slice(1), env: { ...process.env } });
  }
  if (mode === 'http' && rest.length === 1) {
    const url = new URL(rest[0]);
    // Test helper: it must never talk to anything but this machine.
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
      fail(`refusing a non-loopback URL: ${url.href}`);
    }
    const token = process.env.HIVE_MCP_TOKEN; // not an argument, so it stays out of `ps`
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
    return new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  }
  fail('usage: ts_client.mjs stdio <command> [args...] | http <url>');
}

// Our tools return pydantic models: structuredContent carries them; older paths may only
// have the JSON text, so fall back to that.
async function call(client, name, args) {
  const result = await client.callTool({ name, arguments: args });
  const text = result.content?.[0]?.text;
  if (result.isError) {
    throw new Error(`${name} failed: ${text ?? JSON.stringify(result.content)}`);
  }
  if (result.structuredContent) {
    return result.structuredContent;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${name} returned neither structuredContent nor JSON text: ${text}`);
  }
}

// Long-polls get_events until the execution reaches `status`; returns the next cursor.
async function waitFor(client, executionId, status, after, deadline) {
  for (;;) {
    const page = await call(client, 'get_events', { execution_id: executionId, after, wait_seconds: 5 });
    after = page.next_after;
    if (page.status === status) {
      return { page, after };
    }
    if (['completed', 'failed', 'cancelled'].includes(page.status)) {
      throw new Error(`execution ended as ${page.status} while waiting for ${status}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${status} (last status ${page.status})`);
    }
  }
}

async function main() {
  const deadline = Date.now() + DEADLINE_MS;
  const transport = makeTransport(process.argv.slice(2));
  const client = new Client({ name: 'hive-mcp-ts-test', version: '1.0.0' });
  await client.connect(transport);
  try {
    const tools = (await client.listTools()).tools.map((t) => t.name).sort();
    const missing = REQUIRED_TOOLS.filter((name) => !tools.includes(name));
    if (missing.length > 0) {
      throw new Error(`missing tools: ${missing.join(', ')} (have ${tools.join(', ')})`);
    }

    const started = await call(client, 'start_execution', { agent: 'support_desk', input: { customer: 'Ada' } });
    const id = started.execution_id;

    const asked = await waitFor(client, id, 'waiting_for_input', 0, deadline);
    const prompt = asked.page.waiting_for_input?.prompt;
    if (prompt !== 'Hi Ada! What can I help you with?') {
      throw new Error(`unexpected question: ${JSON.stringify(prompt)}`);
    }
    await call(client, 'send_input', { execution_id: id, text: QUESTION });
    await waitFor(client, id, 'completed', asked.after, deadline);

    const info = await call(client, 'get_execution', { execution_id: id });
    process.stdout.write(JSON.stringify({ tools, status: info.status, reply: info.output?.reply ?? null }) + '\n');
  } finally {
    await client.close();
  }
}

// A hard stop in case a request hangs in a way the SDK's own timeouts do not catch.
setTimeout(() => fail(`no result after ${DEADLINE_MS + 10_000} ms`), DEADLINE_MS + 10_000).unref();

main().then(
  () => process.exit(0),
  (error) => fail(error?.stack ?? String(error)),
);
