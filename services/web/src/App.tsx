import { NavLink, Route, Routes } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from './lib/api';
import type { Health } from './lib/types';
import { ExperimentsPage } from './pages/ExperimentsPage';
import { NewExperimentPage } from './pages/NewExperimentPage';
import { ExperimentPage } from './pages/ExperimentPage';
import { TokenDialog } from './components/TokenDialog';
import { HostsBadge } from './components/HostsBadge';
import { HostsPage } from './pages/HostsPage';
import { CatalogPage } from './pages/CatalogPage';

function HealthBadge() {
  const health = useQuery({
    queryKey: ['health'],
    queryFn: () => apiFetch<Health>('/api/v1/health'),
    refetchInterval: 15_000,
    retry: false,
  });
  if (health.error) return <span className="health bad small">server unreachable</span>;
  if (!health.data) return null;
  const h = health.data;
  return (
    <span className={`health small ${h.status === 'ok' ? '' : 'bad'}`} title={`database ${h.database}, events ${h.bus}`}>
      {h.status === 'ok' ? '●' : '▲'} {h.mode} · v{h.version}
    </span>
  );
}

export function App() {
  return (
    <div className="app">
      <header className="topbar">
        <NavLink to="/" className="brand">
          VLM<span>HyperBench</span>
        </NavLink>
        <nav>
          <NavLink to="/" end>
            Experiments
          </NavLink>
          <NavLink to="/new">New experiment</NavLink>
          <NavLink to="/hosts">Hosts</NavLink>
          <NavLink to="/catalog">Catalog</NavLink>
          <a href="/docs" target="_blank" rel="noreferrer">
            API docs
          </a>
        </nav>
        <HostsBadge />
        <HealthBadge />
      </header>
      <main>
        <Routes>
          <Route path="/" element={<ExperimentsPage />} />
          <Route path="/new" element={<NewExperimentPage />} />
          <Route path="/experiments/:id/:tab?" element={<ExperimentPage />} />
          <Route path="/hosts/:name?" element={<HostsPage />} />
          <Route path="/catalog" element={<CatalogPage />} />
          <Route path="*" element={<div className="empty">Page not found.</div>} />
        </Routes>
      </main>
      <TokenDialog />
    </div>
  );
}
