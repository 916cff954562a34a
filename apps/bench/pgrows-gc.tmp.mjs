const { workloads } = await import('./dist/profile/pg-workloads.js');
const name = process.argv[2];
const w = workloads[name];
await w.setup();
for (let r = 0; r < 3; r++) await w.run(100000);
console.log('=== measured');
for (let r = 0; r < 5; r++) await w.run(100000);
console.log('=== end');
await w.teardown();
