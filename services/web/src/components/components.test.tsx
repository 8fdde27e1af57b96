import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { StatusBadge, statusLabel, statusTone } from './StatusBadge';
import { ProgressBar, progressFraction } from './ProgressBar';
import { ErrorBox } from './ErrorBox';
import { ApiError } from '../lib/api';

describe('StatusBadge', () => {
  it('colours states by outcome', () => {
    expect(statusTone('COMPLETED')).toBe('ok');
    expect(statusTone('SKIPPED')).toBe('ok');
    expect(statusLabel('SKIPPED')).toBe('DONE EARLIER');
    expect(statusLabel('FAILED')).toBe('FAILED');
    expect(statusTone('FAILED')).toBe('bad');
    expect(statusTone('RUNNING')).toBe('running');
    expect(statusTone('INTERRUPTED')).toBe('warn');
    expect(statusTone('something-new')).toBe('muted');
  });

  it('renders the status text with a pulse while running', () => {
    const { container } = render(<StatusBadge status="RUNNING" testId="s" />);
    const badge = screen.getByTestId('s');
    expect(badge).toHaveTextContent('RUNNING');
    expect(badge).toHaveClass('badge-running');
    expect(badge).toHaveAttribute('data-status', 'RUNNING');
    expect(container.querySelector('.pulse')).not.toBeNull();
    render(<StatusBadge status="FAILED" title="boom" testId="f" />);
    expect(screen.getByTestId('f')).toHaveAttribute('title', 'boom');
  });
});

describe('ProgressBar', () => {
  it('computes the fraction from done/total, else the given fraction', () => {
    expect(progressFraction({ done: 3, total: 12 })).toBe(0.25);
    expect(progressFraction({ done: 20, total: 10 })).toBe(1);
    expect(progressFraction({ fraction: 0.5 })).toBe(0.5);
    expect(progressFraction({ done: null, total: null })).toBeNull();
    expect(progressFraction({ done: 0, total: 0 })).toBe(1);
  });

  it('shows done/total and an accessible value', () => {
    render(<ProgressBar done={7} total={28} />);
    expect(screen.getByText('7/28')).toBeInTheDocument();
    expect(screen.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '25');
  });

  it('shows a dash when nothing is known yet', () => {
    render(<ProgressBar />);
    expect(screen.getByText('—')).toBeInTheDocument();
    expect(screen.getByRole('progressbar')).not.toHaveAttribute('aria-valuenow');
  });
});

describe('ErrorBox', () => {
  it('shows the API message verbatim', () => {
    const message = "/data/experiment.yaml:3: field 'models.0.backend': unknown backend 'scriptd'";
    render(<ErrorBox error={new ApiError(422, message)} title="refused" />);
    expect(screen.getByRole('alert')).toHaveTextContent(message);
  });

  it('renders nothing without an error', () => {
    const { container } = render(<ErrorBox error={null} />);
    expect(container).toBeEmptyDOMElement();
  });
});
