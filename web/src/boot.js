// First thing on the page (inline in <head>, before the styles and the
// rest of the page are parsed): the list page's one request, so that
// its round trip runs while the browser parses, compiles and lays out
// the rest. main.js takes the response (firstList) instead of asking
// again. Only for the list page with a token; nothing else here.
{
  const t = sessionStorage.getItem("softvisor.token");
  if (t && (location.hash === "" || location.hash === "#" || location.hash === "#/"))
    window.svFirstList = fetch("/v1/vms?view=summary", {
      headers: { Authorization: "Bearer " + t },
      cache: "no-store",
    });
}
