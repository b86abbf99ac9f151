// Client-side routes on the history API under /ui (the server answers every /ui/* path with
// index.html). Links are real <a href>s: they open in a new tab, and a plain click is taken
// over to move without reloading.
import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from "react";

const NAVIGATED = "dashboard:navigated";

export type Route =
  | { page: "functions" }
  | { page: "function"; id: string }
  | { page: "feed" }
  | { page: "invocation"; id: string }
  | { page: "health" }
  | { page: "not-found" };

export const paths = {
  functions: "/ui/functions",
  fn: (id: string) => `/ui/functions/${encodeURIComponent(id)}`,
  feed: "/ui/invocations",
  invocation: (id: string) => `/ui/invocations/${encodeURIComponent(id)}`,
  health: "/ui/health",
};

/** What a path shows; `/` and `/ui` are the functions list. */
export function routeOf(pathname: string): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/ui" || path === paths.functions) return { page: "functions" };
  if (path === paths.feed) return { page: "feed" };
  if (path === paths.health) return { page: "health" };
  const match = /^\/ui\/(functions|invocations)\/([^/]+)$/.exec(path);
  if (match) {
    let id: string;
    try {
      id = decodeURIComponent(match[2] as string);
    } catch {
      return { page: "not-found" };
    }
    return match[1] === "functions" ? { page: "function", id } : { page: "invocation", id };
  }
  return { page: "not-found" };
}

/** Set by a navigation inside the page; the next page's title takes focus (page-title.tsx). */
let focusPending = false;

export function consumeNavigationFocus(): boolean {
  const pending = focusPending;
  focusPending = false;
  return pending;
}

window.addEventListener("popstate", () => {
  focusPending = true;
});

function subscribe(onChange: () => void): () => void {
  window.addEventListener("popstate", onChange);
  window.addEventListener(NAVIGATED, onChange);
  return () => {
    window.removeEventListener("popstate", onChange);
    window.removeEventListener(NAVIGATED, onChange);
  };
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function navigate(to: string): void {
  if (to === window.location.pathname) return;
  window.history.pushState(null, "", to);
  window.scrollTo(0, 0);
  focusPending = true;
  window.dispatchEvent(new Event(NAVIGATED));
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

export function Link({ to, onClick, children, ...rest }: LinkProps) {
  const follow = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    // Modified clicks (new tab, new window, download) stay the browser's.
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    )
      return;
    event.preventDefault();
    navigate(to);
  };
  return (
    <a href={to} onClick={follow} {...rest}>
      {children}
    </a>
  );
}
