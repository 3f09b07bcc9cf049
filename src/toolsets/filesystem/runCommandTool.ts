import { z } from 'zod';
import { ToolError } from '../../errors.ts';
import { DEFAULT_LIMITS, runSandboxed, type SandboxResult } from '../../sandbox/runSandboxed.ts';
import type { SandboxSettings } from '../../sandbox/sandboxOptions.ts';
import { defineTool, type Tool } from '../../tools/defineTool.ts';
import type { Workspace } from './Workspace.ts';

const parameters = z.object({
  command: z.string().min(1).describe('A shell command line, run with /bin/sh -c.'),
  cwd: z.string().optional().describe('Folder to run in, relative to the workspace root. Default: the root.'),
  timeout_ms: z.number().int().positive().optional().describe('Stop the command after this many milliseconds.'),
});

/** The `run_command` tool: a shell command in the workspace, through the sandbox settings given. */
export function runCommandTool(ws: Workspace, settings: SandboxSettings, needsApproval: boolean): Tool<typeof parameters> {
  const where = settings.mode === 'off' ? 'on the host WITHOUT a sandbox' : 'in a sandbox';
  const network = settings.network ? 'with network access' : 'without network access';
  const tmpBytes = settings.limits.tmpBytes ?? DEFAULT_LIMITS.tmpBytes;
  return defineTool({
    name: 'run_command',
    description:
      `Run a shell command ${where}, ${network}. Only the workspace folder is writable; /tmp is private and empty` +
      (tmpBytes > 0 && settings.mode === 'required' ? ` and holds ${tmpBytes} bytes. ` : '. ') +
      `Returns the exit code, stdout and stderr (capped at ${settings.maxOutputBytes} bytes). ` +
      `Default timeout ${settings.timeoutMs} ms.`,
    parameters,
    needsApproval,
    timeoutMs: settings.maxTimeoutMs + 15_000,
    onResume: 'ask',
    scopes: ['command'],
    async execute({ command, cwd, timeout_ms }, ctx) {
      const timeoutMs = timeout_ms ?? settings.timeoutMs;
      if (timeoutMs > settings.maxTimeoutMs) {
        throw new ToolError(`timeout_ms ${timeoutMs} is over the allowed maximum of ${settings.maxTimeoutMs} ms; ask for less.`);
      }
      const dir = await ws.openDirectory(cwd ?? '.');
      await dir.handle.close();
      const result = await runSandboxed({
        command,
        cwd: dir.realPath,
        workspaceRoot: ws.root,
        timeoutMs,
        maxOutputBytes: settings.maxOutputBytes,
        env: settings.env,
        network: settings.network,
        signal: ctx.signal,
        sandbox: settings.mode,
        limits: settings.limits,
        ...(settings.bwrapPath ? { bwrapPath: settings.bwrapPath } : {}),
      });
      return formatResult(result, dir.path, timeoutMs);
    },
  });
}

function formatResult(r: SandboxResult, cwd: string, timeoutMs: number): string {
  const status = r.stoppedBy
    ? `stopped: ${r.stoppedBy}; the command and its child processes were killed`
    : r.timedOut
    ? `timed out after ${timeoutMs} ms; the command and its child processes were killed`
    : r.aborted
      ? 'cancelled; the command and its child processes were killed'
      : r.signal
        ? `killed by ${r.signal}`
        : `exit code ${r.exitCode}`;
  const parts = [`${status} (cwd: ${cwd}, ${r.sandboxed ? 'sandboxed' : 'NOT sandboxed'})`];
  parts.push(r.stdout ? `stdout:\n${r.stdout}` : 'stdout: (empty)');
  parts.push(r.stderr ? `stderr:\n${r.stderr}` : 'stderr: (empty)');
  return parts.join('\n');
}
