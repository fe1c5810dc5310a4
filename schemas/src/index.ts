export * from './errors.js';
export * from './api.js';
export * from './agent-api.js';
export * from './config.js';
export * from './frames.js';
export * from './kept-output.js';
export * from './control.js';
export * from './mountinfo.js';
