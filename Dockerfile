# One image for both roles: `serve` (API) or `worker` (generation). GPU workers need an onnxruntime-node
# build with the CUDA execution provider (see README "Offline install").
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
# npm 10 (in node:20 images) ignores package.json allowScripts; onnxruntime-node's install script honours this.
ENV ONNXRUNTIME_NODE_INSTALL=skip
RUN npm ci --no-audit --no-fund
COPY . .
ENV HOST=0.0.0.0 PORT=4000
EXPOSE 4000
ENTRYPOINT ["node", "--import", "tsx", "src/cli.ts"]
CMD ["serve"]
