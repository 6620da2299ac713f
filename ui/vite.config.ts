import { defineConfig } from 'vitest/config';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Relative asset URLs, so the same build works when the engine serves it at
// `/` and inside the tray app's webview.
export default defineConfig({
  base: './',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
  },
  server: {
    // `npm run dev` talks to a running engine through this proxy.
    proxy: { '/api': process.env.CLAUDE_MEMORY_URL ?? 'http://127.0.0.1:23811' },
  },
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
  },
});
