/** The HTTP(S) binding: the server endpoint (Fastify plugin) and the client transport. */
export {
  type DmHttpPluginOptions,
  type DmRequestHandler,
  dmHttpPlugin,
  httpStatusOf,
} from './server-plugin.ts';
export { HttpStatusError, HttpTransport, type HttpTransportOptions } from './client-transport.ts';
export {
  DownloadError,
  type DownloadErrorKind,
  type DownloadOptions,
  type DownloadResult,
  discardDownload,
  downloadFile,
  type HashUrlOptions,
  hashUrl,
  type HttpFetchOptions,
  postText,
} from './download.ts';
