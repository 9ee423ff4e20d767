// The frame: navigation, the signed-in user, and the view the path names.
import { Suspense, useEffect } from "react";
import { Link, match, navigate, useLocation } from "./lib/router";
import { HOME, VIEWS } from "./routes";
import { useSession } from "./session";

export function App() {
  const { me, can, logout } = useSession();
  const { path } = useLocation();
  useEffect(() => {
    if (path === "/" || path === "") navigate(HOME, { replace: true });
  }, [path]);

  let found: { view: (typeof VIEWS)[number]; params: Record<string, string> } | null = null;
  for (const view of VIEWS) {
    const params = match(view.path, path);
    if (params) {
      found = { view, params };
      break;
    }
  }
  useEffect(() => {
    document.title = found ? `${found.view.title} · EMS` : "EMS";
  }, [found]);

  const allowedView = found && (!found.view.permission || can(found.view.permission));
  const View = found?.view.component;
  return (
    <div className="app">
      <header className="top">
        <Link to={HOME} className="brand">
          EMS
        </Link>
        <nav aria-label="Views">
          {VIEWS.filter((v) => v.nav && (!v.permission || can(v.permission))).map((v) => (
            <Link key={v.path} to={v.path} className={path === v.path || path.startsWith(`${v.path}/`) ? "active" : ""}>
              {v.title}
            </Link>
          ))}
        </nav>
        <span className="user" data-testid="user">
          {me.name} <span className="role">{me.role ?? me.kind}</span>
        </span>
        <button onClick={() => void logout()}>Log out</button>
      </header>
      <main className="content">
        {!found && path !== "/" && <p className="empty">No page at {path}.</p>}
        {found && !allowedView && <p className="empty">Your role may not see this page ({found.view.permission} is needed).</p>}
        {View && allowedView && (
          <Suspense fallback={<p className="empty">Loading…</p>}>
            <View params={found!.params} />
          </Suspense>
        )}
      </main>
    </div>
  );
}
