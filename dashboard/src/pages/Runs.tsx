// /runs?application=…&name=…: the run history of any pipeline name, whether or not a
// definition makes it; the pipeline page links here.
import { useSearchParams } from "react-router";

import { Empty, PageHeader } from "../components/ui";
import { RunHistory } from "../components/RunHistory";

export function Runs() {
  const [params] = useSearchParams();
  const application = params.get("application");
  const name = params.get("name");
  return (
    <section>
      <PageHeader title={name ? `Runs of ${name}` : "Runs"} />
      {application && name ? (
        <RunHistory applicationId={application} name={name} />
      ) : (
        <Empty>Open a pipeline's run history from its page.</Empty>
      )}
    </section>
  );
}
