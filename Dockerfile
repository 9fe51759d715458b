# One image for the API and the worker; docker-compose.yml picks the command. Runs TypeScript through tsx,
# the same way `npm run dev` does, so there is no separate build output to drift from the source.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY . .
USER node
EXPOSE 3000
CMD ["node", "--import", "tsx", "api/server.ts"]
