// The raw MessagePort baselines of the threads benchmarks, in a worker thread. Given
// { port, n, direction }: 'out' posts 0..n-1 on the port; 'in' receives n messages, then posts
// 'done'; 'echo' answers each message with its first number plus one (the ping-pong limit).

import { parentPort } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

interface Order {
  port: MessagePort;
  n: number;
  direction: 'in' | 'out' | 'echo';
}

parentPort?.on('message', ({ port, n, direction }: Order) => {
  if (direction === 'out') {
    for (let i = 0; i < n; i++) port.postMessage(i);
    port.close();
    return;
  }
  if (direction === 'echo') {
    port.on('message', (message: number[]) => port.postMessage((message[0] as number) + 1));
    return;
  }
  let seen = 0;
  port.on('message', () => {
    if (++seen === n) {
      port.postMessage('done');
      port.close();
    }
  });
});
