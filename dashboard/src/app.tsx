// The frame of every page: skip link, header (navigation, API key), the page of the URL.
import { ApiKeyForm } from "./api-key-form";
import { FeedPage } from "./pages/feed-page";
import { FunctionPage } from "./pages/function-page";
import { FunctionsPage } from "./pages/functions-page";
import { HealthPage } from "./pages/health-page";
import { InvocationPage } from "./pages/invocation-page";
import { NotFoundPage } from "./pages/not-found-page";
import { Link, paths, type Route, routeOf, usePathname } from "./router";

const NAV = [
  { to: paths.functions, label: "Functions", pages: ["functions", "function"] },
  { to: paths.feed, label: "Live feed", pages: ["feed", "invocation"] },
  { to: paths.health, label: "Health", pages: ["health"] },
] as const;

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "functions":
      return <FunctionsPage />;
    case "function":
      return <FunctionPage key={route.id} id={route.id} />;
    case "feed":
      return <FeedPage />;
    case "invocation":
      return <InvocationPage key={route.id} id={route.id} />;
    case "health":
      return <HealthPage />;
    case "not-found":
      return <NotFoundPage />;
  }
}

export function App() {
  const route = routeOf(usePathname());
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to={paths.functions} className="brand">
          FaaS dashboard
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.map((item) => (
              <li key={item.to}>
                <Link
                  to={item.to}
                  aria-current={(item.pages as readonly string[]).includes(route.page) ? "page" : undefined}
                >
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <ApiKeyForm />
      </header>
      <main id="main" tabIndex={-1}>
        <Page route={route} />
      </main>
    </>
  );
}
