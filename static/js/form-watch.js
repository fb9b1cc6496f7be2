/**
 * Edit and delete forms: when the object open in the form is changed or deleted by someone else
 * meanwhile, the form says so at once. Saving then merges as the server does (docs/history.md,
 * "Merging concurrent edits"): the fields the user changed are written unless someone changed
 * them too, which the form shows as a conflict to decide.
 */

import { actorName, format, realtime } from "./live.js";

const watch = document.querySelector("[data-live-watch]");

if (watch) {
  const { stream, entity } = watch.dataset;
  const id = Number(watch.dataset.objectId);
  const version = Number(watch.dataset.version);

  const show = (frame, withActor, withoutActor) => {
    watch.textContent = format(frame.actor ? withActor : withoutActor, {
      actor: actorName(frame),
    });
    watch.hidden = false;
  };

  // A recalculation a report brought about (`cause`: a task's volume done) is no edit: saving
  // the form merges over it without a conflict.
  document.addEventListener(`realtime:${entity}_updated`, ({ detail: frame }) => {
    if (frame.data.id === id && frame.data.version > version && !frame.cause) {
      show(frame, watch.dataset.changed, watch.dataset.changedWithoutActor);
    }
  });
  document.addEventListener(`realtime:${entity}_deleted`, ({ detail: frame }) => {
    if (frame.data.id === id) show(frame, watch.dataset.deleted, watch.dataset.deletedWithoutActor);
  });

  realtime.subscribe([stream]);
  realtime.connect();
}
