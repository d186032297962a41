#!/usr/bin/env node
// Entry point of the `omadm` command. In a checkout it runs the TypeScript
// sources directly (Node 24 strips types); installed from npm it runs dist/.
import { existsSync } from 'node:fs';

const src = new URL('../src/cli/main.ts', import.meta.url);
const dist = new URL('../dist/cli/main.js', import.meta.url);
const useSrc = existsSync(src) && !src.pathname.includes('/node_modules/');
const { main } = await import((useSrc ? src : dist).href);
process.exitCode = await main(process.argv.slice(2));
