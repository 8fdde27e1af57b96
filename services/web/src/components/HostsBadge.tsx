import { Link } from 'react-router-dom';
import { useQuery } from '@tanstack/react-query';
import { apiFetch } from '../lib/api';
import type { Host, HostEvent } from '../lib/hosts';
import { unhealthyCounts } from '../lib/hosts';

/** Refresh period of the header badge. */
export const BADGE_REFRESH_MS = 5000;

/** The header's hosts badge: hosts unavailable and containers failed lately (red when any),
 * linking to the Hosts page. */
export function HostsBadge({ now }: { now?: number }) {
  const hosts = useQuery({
    queryKey: ['hosts'],
    queryFn: ({ signal }) => apiFetch<Host[]>('/api/v1/hosts', { signal }),
    refetchInterval: BADGE_REFRESH_MS,
    retry: false,
  });
  const events = useQuery({
    queryKey: ['host-events'],
    queryFn: ({ signal }) => apiFetch<HostEvent[]>('/api/v1/host-events?limit=1000', { signal }),
    refetchInterval: BADGE_REFRESH_MS,
    retry: false,
  });
  if (!hosts.data) return null;
  const counts = unhealthyCounts(hosts.data, events.data ?? [], now);
  const bad = counts.hosts + counts.containers > 0;
  const title = `${counts.hosts} host(s) unavailable, ${counts.containers} container(s) failed in the last 15 min`;
  return (
    <Link
      to="/hosts"
      className={`hosts-badge ${bad ? 'hosts-badge-bad' : ''}`}
      title={title}
      data-testid="hosts-badge"
      data-bad={bad ? 'true' : 'false'}
    >
      {bad ? `▲ ${counts.hosts} down · ${counts.containers} failed` : `● ${hosts.data.length} hosts ok`}
    </Link>
  );
}
