// The addon is built by `npm ci` (node-gyp, from binding.gyp) into build/Release.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const addon = require('./build/Release/peercred.node');

export const peerCred = addon.peerCred;
