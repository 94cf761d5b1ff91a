// Checked apart from the page: it runs in a ServiceWorkerGlobalScope, not a window.
// The viewer's service worker: shows Web Push alerts while the page is closed (the hub encrypts
// them for this browser's subscription, RFC 8291) and opens the bed's chart when tapped.
self.addEventListener("push", (event) => {
  let data = {};
  try { data = event.data ? event.data.json() : {}; } catch { data = { title: "Mimamori", body: event.data?.text() ?? "" }; }
  // The viewer registers this worker as `sw.js?lang=ja|en`, its user's language; the hub
  // sends the Japanese words beside the English ones.
  const words = new URL(self.location.href).searchParams.get("lang") !== "en" && data.ja ? data.ja : data;
  event.waitUntil(self.registration.showNotification(words.title ?? "Mimamori", {
    body: words.body ?? "",
    tag: data.alert ? `alert-${data.alert.id}` : undefined,
    renotify: true,
    requireInteraction: data.severity === "urgent",
    data: { url: data.url ?? "/#/oncall" },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data?.url ?? "/#/oncall"));
});
