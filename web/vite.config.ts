import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

// The client talks only to /api/v1; `npm run dev` proxies it to a local `keel serve`.
export default defineConfig({
  plugins: [vue()],
  server: { proxy: { '/api': 'http://127.0.0.1:8080' } },
  build: { outDir: 'dist', assetsDir: 'assets', sourcemap: false, target: 'es2022' },
  test: { environment: 'jsdom', include: ['src/__tests__/**/*.test.ts'] },
} as any)
