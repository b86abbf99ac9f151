// Each page's h1, also the document title. It takes focus after a client-side navigation
// (tabIndex -1: focusable by script, not in the tab order), so a screen reader announces the
// new page and the next Tab starts from its top.
import { type ReactNode, useEffect, useRef } from "react";
import { consumeNavigationFocus } from "./router";

export function PageTitle({ children, title }: { children: ReactNode; title?: string }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const text = title ?? (typeof children === "string" ? children : "");
  useEffect(() => {
    document.title = text ? `${text} · FaaS dashboard` : "FaaS dashboard";
  }, [text]);
  useEffect(() => {
    if (consumeNavigationFocus()) heading.current?.focus();
  }, []);
  return (
    <h1 ref={heading} tabIndex={-1}>
      {children}
    </h1>
  );
}
