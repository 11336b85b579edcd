package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"

	injectorConsts "github.com/dapr/dapr/pkg/injector/consts"
	"github.com/dapr/dapr/pkg/injector/patcher"
)

// The control plane as the AKS Dapr extension (or the Helm chart with its defaults) installs
// it: what the injector service fills in before it reads the pod's annotations
// (pkg/injector/service/pod_patch.go).
const (
	controlPlaneNamespace = "dapr-system"
	clusterDomain         = "cluster.local"
	trustDomain           = "cluster.local"
	sidecarImage          = "ghcr.io/dapr/daprd:1.16.5"
)

// Injected is one Deployment's pod as the injector leaves it.
type Injected struct {
	Deployment string      `json:"deployment"`
	Namespace  string      `json:"namespace"`
	Pod        *corev1.Pod `json:"pod"`
}

// documents reads every YAML document of the file as JSON-shaped maps.
func documents(path string) ([]map[string]any, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	decoder := k8syaml.NewYAMLOrJSONDecoder(file, 4096)
	var docs []map[string]any
	for {
		var doc map[string]any
		if err := decoder.Decode(&doc); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

func convert(from any, to any) error {
	data, err := json.Marshal(from)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, to)
}

func inject(manifests string) ([]Injected, error) {
	docs, err := documents(manifests)
	if err != nil {
		return nil, err
	}
	var result []Injected
	for _, doc := range docs {
		if doc["kind"] != "Deployment" {
			continue
		}
		var deployment appsv1.Deployment
		if err := convert(doc, &deployment); err != nil {
			return nil, fmt.Errorf("Deployment: %w", err)
		}
		pod := &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: *deployment.Spec.Template.ObjectMeta.DeepCopy(),
			Spec:       *deployment.Spec.Template.Spec.DeepCopy(),
		}
		pod.Namespace = deployment.Namespace
		pod.Name = deployment.Name + "-0"
		patched, err := injectPod(pod)
		if err != nil {
			return nil, fmt.Errorf("Deployment %s: %w", deployment.Name, err)
		}
		result = append(result, Injected{Deployment: deployment.Name, Namespace: deployment.Namespace, Pod: patched})
	}
	return result, nil
}

// injectPod does what the injector's getPodPatchOperations does with an admission request
// for the pod, with the extension's default settings (mTLS on, actors through placement,
// three scheduler replicas), then applies the patch.
func injectPod(pod *corev1.Pod) (*corev1.Pod, error) {
	sidecar := patcher.NewSidecarConfig(pod)
	sidecar.Mode = injectorConsts.ModeKubernetes
	sidecar.Namespace = pod.Namespace
	sidecar.MTLSEnabled = true
	sidecar.Identity = pod.Namespace + ":" + pod.Spec.ServiceAccountName
	sidecar.ImagePullPolicy = corev1.PullIfNotPresent
	sidecar.OperatorAddress = patcher.ServiceAPI.Address(controlPlaneNamespace, clusterDomain)
	sidecar.SentryAddress = patcher.ServiceSentry.Address(controlPlaneNamespace, clusterDomain)
	sidecar.RunAsNonRoot = true
	sidecar.ReadOnlyRootFilesystem = true
	sidecar.SidecarDropALLCapabilities = false
	sidecar.ControlPlaneNamespace = controlPlaneNamespace
	sidecar.ControlPlaneTrustDomain = trustDomain
	sidecar.SentrySPIFFEID = "spiffe://" + trustDomain + "/ns/" + controlPlaneNamespace + "/dapr-sentry"
	sidecar.CurrentTrustAnchors = []byte("stand-in trust anchors")
	sidecar.PlacementAddress = patcher.ServicePlacement.Address(controlPlaneNamespace, clusterDomain)
	sidecar.SchedulerAddress = joinAddresses(patcher.ServiceScheduler.AddressAllInstances(3, controlPlaneNamespace, clusterDomain))
	sidecar.SidecarImage = sidecarImage
	sidecar.SetFromPodAnnotations()
	patch, err := sidecar.GetPatch()
	if err != nil {
		return nil, err
	}
	if patch == nil {
		return pod, nil
	}
	return patcher.PatchPod(pod, patch)
}

func joinAddresses(addresses []string) string {
	joined := ""
	for i, address := range addresses {
		if i > 0 {
			joined += ","
		}
		joined += address
	}
	return joined
}
