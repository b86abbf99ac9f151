import { PageTitle } from "../page-title";
import { Link, paths } from "../router";

export function NotFoundPage() {
  return (
    <>
      <PageTitle>Page not found</PageTitle>
      <p>
        Nothing here. See the <Link to={paths.functions}>functions</Link> or the <Link to={paths.feed}>live feed</Link>.
      </p>
    </>
  );
}
