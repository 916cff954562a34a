#!/usr/bin/env node
// @ts-check
// curio-monitor: the client of the kernel's task monitor (`run(main, { monitor: true })`).
//
//   curio-monitor [host] [port]      (defaults 127.0.0.1 48802; a lone number is the port)
//
// Reads commands from stdin, one per line, sends them to the monitor and prints what it
// answers. The monitor does the work (ps, where, parents, cancel, signal, help, quit); this
// client only relays, so it works the same from a terminal or with commands piped in.
//
// Exit status: 0 when the session ends (quit, end of input, or the program shutting down),
// 1 when the monitor cannot be reached, 2 for bad arguments. Plain JavaScript with no
// dependencies, so it runs without a build.

import * as net from 'node:net';
import * as readline from 'node:readline';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 48802;
const USAGE = `usage: curio-monitor [host] [port]   (defaults ${DEFAULT_HOST} ${DEFAULT_PORT})
Connects to the task monitor of a program run with run(main, { monitor: true }).
Commands: ps, where ID, parents ID, cancel ID, signal NAME, help, quit.
`;

/**
 * Parse `[host] [port]`.
 * @param {string[]} args
 * @returns {{ host: string, port: number } | string} the address, or an error message
 */
function parseArgs(args) {
  if (args.length > 2) return 'too many arguments';
  let host = DEFAULT_HOST;
  let portText = String(DEFAULT_PORT);
  if (args.length === 1 && /^\d+$/.test(args[0] ?? '')) portText = args[0] ?? portText;
  else {
    host = args[0] ?? host;
    portText = args[1] ?? portText;
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) return `bad port ${JSON.stringify(portText)}`;
  return { host, port };
}

/**
 * A one-line reason for a connection error.
 * @param {NodeJS.ErrnoException} error
 * @param {string} where
 */
function describe(error, where) {
  if (error.code === 'ECONNREFUSED') {
    return `cannot connect to ${where}: connection refused (is the program running with the monitor on, on this port?)`;
  }
  return `${where}: ${error.message}`;
}

const args = process.argv.slice(2);
if (args.includes('-h') || args.includes('--help')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const address = parseArgs(args);
if (typeof address === 'string') {
  process.stderr.write(`curio-monitor: ${address}\n${USAGE}`);
  process.exit(2);
}

const where = `${address.host}:${address.port}`;
const socket = net.connect({ host: address.host, port: address.port });
socket.setEncoding('utf8');
let connected = false;
let inputEnded = false;

/** @param {number} code */
function finish(code) {
  process.stdin.destroy();
  process.stdout.write('', () => process.exit(code));
}

socket.on('connect', () => {
  connected = true;
  const input = readline.createInterface({ input: process.stdin, terminal: false });
  input.on('line', (line) => {
    if (!socket.writable) return;
    socket.write(`${line}\n`);
    if (/^\s*(quit|exit|q)\s*$/i.test(line)) input.close();
  });
  input.on('close', () => {
    inputEnded = true;
    if (socket.writable) socket.end();
  });
});
socket.on('data', (text) => process.stdout.write(text));
socket.on('error', (error) => {
  process.stderr.write(`curio-monitor: ${describe(error, where)}\n`);
  finish(1);
});
socket.on('close', (hadError) => {
  if (hadError) return;
  if (connected && !inputEnded) process.stderr.write('curio-monitor: the monitored program closed the connection\n');
  finish(connected ? 0 : 1);
});
