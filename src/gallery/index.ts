// The web gallery: static ES modules served under /gallery/, talking to /graphql only.
export { serveGallery } from "./serve.ts";
