// A sentence from the API, the names and errors it quotes between backticks set as code: the
// risks' sentences, and the alerts' summaries made of them.
import { sentenceParts } from "../risk";

/** The API's sentence, the stage, handler and error it quotes set as code. */
export function Sentence({ text }: { text: string }) {
  return (
    <>
      {sentenceParts(text).map((part, index) =>
        part.code ? (
          <code key={index} className="rounded bg-slate-100 px-1 text-[0.9em] dark:bg-slate-800">
            {part.text}
          </code>
        ) : (
          part.text
        ),
      )}
    </>
  );
}
