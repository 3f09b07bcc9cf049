import { spawn, type ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { endProcess, signalProcess, waitForExit } from '../childProcess.ts';

export interface ProcessGroupServer {
  command: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** A label for messages: 'MCP server "fs"'. */
  label: string;
  /** How long the server has to exit after its input ends, and again after SIGTERM. */
  graceMs: number;
}

/**
 * The MCP stdio client transport, with the server started as the leader of a process group of its
 * own: closing it ends the server and every process the server started (a launcher such as `npx`
 * leaves the real server as a grandchild). Its input is ended first, then the group gets SIGTERM, then
 * SIGKILL.
 */
export class ProcessGroupTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The server's stderr, readable before `start`. */
  readonly stderr = new PassThrough();
  readonly #server: ProcessGroupServer;
  readonly #buffer = new ReadBuffer();
  #child: ChildProcess | undefined;
  /** Kept after the server exits: processes it started may still run in its group. */
  #pid: number | undefined;
  #closing: Promise<void> | undefined;

  constructor(server: ProcessGroupServer) {
    this.#server = server;
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  start(): Promise<void> {
    if (this.#child) throw new Error(`${this.#server.label}: the transport was already started.`);
    const { command, args, env, cwd } = this.#server;
    return new Promise((resolve, reject) => {
      const child = spawn(command, args ?? [], {
        env: { ...getDefaultEnvironment(), ...env },
        stdio: ['pipe', 'pipe', 'pipe'],
        cwd,
        detached: true,
        windowsHide: true,
      });
      this.#child = child;
      child.on('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.on('spawn', () => {
        this.#pid = child.pid;
        resolve();
      });
      child.on('close', () => {
        if (this.#child === child) this.#child = undefined;
        this.onclose?.();
      });
      child.stdin!.on('error', (error) => this.onerror?.(error));
      child.stdout!.on('error', (error) => this.onerror?.(error));
      child.stdout!.on('data', (chunk: Buffer) => {
        this.#buffer.append(chunk);
        for (;;) {
          let message: JSONRPCMessage | null;
          try {
            message = this.#buffer.readMessage();
          } catch (error) {
            this.onerror?.(error as Error);
            continue;
          }
          if (message === null) break;
          this.onmessage?.(message);
        }
      });
      child.stderr!.pipe(this.stderr);
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.#child?.stdin;
    if (!stdin || this.#closing) return Promise.reject(new Error(`${this.#server.label} is not connected.`));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }

  /** Kills the server and every process of its group at once (for a process that must exit now). */
  kill(): void {
    if (this.#pid !== undefined) signalProcess(this.#pid, 'SIGKILL', true);
  }

  /** Ends the server's input, then its process group: SIGTERM after `graceMs`, SIGKILL after another. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const pid = this.#pid;
      if (this.#child) {
        try {
          this.#child.stdin?.end();
        } catch {
          // Its input is already closed.
        }
        // A well-behaved server exits when its input ends; whatever it started may still run.
        if (pid !== undefined) await waitForExit(pid, this.#server.graceMs);
      }
      if (pid !== undefined) await endProcess(pid, { group: true, graceMs: this.#server.graceMs });
      this.#buffer.clear();
    })();
    return this.#closing;
  }
}
