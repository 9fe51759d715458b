# syntax=docker/dockerfile:1
# One image for the API and the worker; docker-compose.yml picks the command. Two stages: the build stage
# installs every dependency and runs `npm run build` (TypeScript to dist/, plus the prebuilt workflow bundle);
# the runtime stage has production dependencies only and runs `node dist/...` as the unprivileged user.
# `npm run image:check` replays these steps without Docker (scripts/imageCheck.ts reads this file), and CI runs it.
#
# --ignore-scripts: every native binary comes as an optional dependency in the lockfile, so no package needs
# its install script (package.json "allowScripts" denies them; npm 10 in this base image would run them).
# npm's download cache is a BuildKit cache mount: reused across builds and never part of a layer; with
# --prefer-offline npm takes what it holds there (checked against the lockfile's integrity) without asking
# the registry again.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --prefer-offline --no-audit --no-fund --ignore-scripts
COPY . .
RUN npm run build

FROM node:20-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --omit=dev
COPY --from=build /app/dist ./dist
USER node
EXPOSE 3000
CMD ["node", "--max-old-space-size=128", "dist/api/server.js"]
