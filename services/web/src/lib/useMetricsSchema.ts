import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { apiFetch } from './api';
import type { ExperimentDetail, MetricsSchema } from './types';

/** The experiment's metric metadata (direction, unit, range) from the API, re-read as
 * stages finish. */
export function useMetricsSchema(detail: ExperimentDetail) {
  return useQuery({
    queryKey: ['metrics-schema', detail.id, detail.stages_done],
    queryFn: ({ signal }) =>
      apiFetch<MetricsSchema>(`/api/v1/experiments/${detail.id}/metrics-schema`, { signal }),
    placeholderData: keepPreviousData,
  });
}
