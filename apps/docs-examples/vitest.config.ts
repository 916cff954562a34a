import { sharedConfig } from '../../vitest.shared.js';

// An example may build the repository (`npm start`) or run for a few seconds: generous limits.
export default sharedConfig({ testTimeout: 300_000 });
