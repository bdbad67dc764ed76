// Copies the non-TypeScript files the runtime reads (Lua scripts) from src/ into dist/.
import { cpSync, mkdirSync } from 'node:fs';

mkdirSync('dist/redis/scripts', { recursive: true });
cpSync('src/redis/scripts', 'dist/redis/scripts', { recursive: true });
