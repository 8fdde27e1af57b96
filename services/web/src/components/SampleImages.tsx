import { useState } from 'react';
import { boxStyle } from '../lib/box';
import type { SampleImages as Images } from '../lib/types';

/** The page with the answer's box drawn over it (once the image has loaded its size). */
function BoxedPage({ src, box, className, alt }: { src: string; box: number[] | null; className: string; alt: string }) {
  const [size, setSize] = useState<[number, number] | null>(null);
  const style = box && size ? boxStyle(box, size[0], size[1]) : null;
  return (
    <span className="boxed">
      <img
        className={className}
        src={src}
        alt={alt}
        loading="lazy"
        onLoad={(e) => setSize([e.currentTarget.naturalWidth, e.currentTarget.naturalHeight])}
      />
      {style && <span className="answer-box" style={style} data-testid="answer-box" />}
    </span>
  );
}

/**
 * A sample's images: the crop the model received (answer_bbox tasks) and the full page
 * with the answer's box; a click opens both large.
 */
export function SampleImages({ images, id }: { images: Images; id: string }) {
  const [open, setOpen] = useState(false);
  if (!images.image_url) return <span className="muted small">no image</span>;
  const box = images.answer_box ?? null;
  return (
    <>
      <button
        type="button"
        className="sample-images"
        title="click to enlarge"
        onClick={() => setOpen(true)}
        data-testid="sample-images"
      >
        {images.crop_url && (
          <img className="thumb crop-thumb" src={images.crop_url} alt={`crop sent for sample ${id}`} data-testid="crop" />
        )}
        <BoxedPage src={images.image_url} box={box} className="thumb" alt={`sample ${id}`} />
      </button>
      {open && (
        <div className="modal-backdrop" onClick={() => setOpen(false)} data-testid="image-zoom">
          <div className="zoom-grid">
            {images.crop_url && (
              <figure>
                <img className="zoom-crop" src={images.crop_url} alt={`crop sent for sample ${id}`} />
                <figcaption>what the model received</figcaption>
              </figure>
            )}
            <figure>
              <BoxedPage src={images.image_url} box={box} className="zoom" alt={`page of sample ${id}`} />
              <figcaption>the page{box ? ', answer box outlined' : ''} · click anywhere to close</figcaption>
            </figure>
          </div>
        </div>
      )}
    </>
  );
}
