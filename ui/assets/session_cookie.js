// Remembers this browser's session id in a cookie, so that a refresh finds its runs while
// the address bar (which anyone may be shown) carries no identity at all.
export default function ({ data }) {
  if (!data || !/^[0-9a-f]{32}$/.test(data.owner || "")) return;
  const cookie = `${data.name}=${data.owner}`;
  if (!document.cookie.split("; ").includes(cookie)) {
    document.cookie = `${cookie}; path=/; max-age=${data.maxAge}; SameSite=Strict`;
  }
}
