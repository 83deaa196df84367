// Keeps the visit page itself loadable without a signal. Only the page and its own script and style
// are cached; residents' data never is (API replies go to the network, and the page keeps unsent
// records in its own storage).
const CACHE = "sg-visits-v2";
const SHELL = ["/visits", "/visits/app.js", "/visits/write.js", "/visits/app.css"];

self.addEventListener("install", (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});
self.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
    .then(() => self.clients.claim()));
});
self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== location.origin || !SHELL.includes(url.pathname)) return;
  // network first, so a new version shows at once; the cached copy when there is no network
  e.respondWith(fetch(e.request).then((r) => {
    if (r.ok && !r.redirected) caches.open(CACHE).then((c) => c.put(e.request, r.clone()));
    return r;
  }).catch(() => caches.match(e.request)));
});
