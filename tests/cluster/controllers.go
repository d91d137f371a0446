package main

import (
	"context"
	"fmt"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	namespacecontroller "k8s.io/kubernetes/pkg/controller/namespace"
)

// The handful of kube-controller-manager controllers whose absence a test of
// an operator would trip over even without any nodes:
//
//   - namespace: without it a deleted namespace stays Terminating forever and
//     its contents are never removed;
//   - garbage collector: without it ownerReferences do nothing, so children
//     of a deleted custom resource live on;
//   - clusterrole aggregation: without it the built-in admin/edit/view
//     ClusterRoles have no rules at all, which silently breaks RBAC tests
//     that bind them.
//
// Everything Pod/Node/workload related is deliberately left out: nothing
// here runs containers.

const (
	informerResync = 10 * time.Minute
	// How often the garbage collector re-reads discovery to start watching
	// newly added resource types (CRDs). kube-controller-manager uses 30s,
	// which is long for a test that creates a CRD and immediately relies on
	// cascading deletion of its objects' dependents.
	gcDiscoveryPeriod = 3 * time.Second
)

// startControllers runs the controllers above against the apiserver at cfg
// until ctx is cancelled, and returns once the built-in aggregated
// ClusterRoles have been filled in.
func startControllers(ctx context.Context, cfg *rest.Config) error {
	cfg = rest.CopyConfig(cfg)
	// Loopback traffic; client-side throttling would only slow tests down
	// (the namespace controller, for one, issues many list/delete calls).
	cfg.QPS, cfg.Burst = 1000, 2000
	cfg.UserAgent = "test-apiserver-controllers"

	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	metadataClient, err := metadata.NewForConfig(cfg)
	if err != nil {
		return err
	}
	// The garbage collector wants two discovery clients: one behind its
	// RESTMapper (reset on every change) and one it polls for changes.
	mapperDiscovery, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	restMapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(mapperDiscovery))

	typedInformers := informers.NewSharedInformerFactory(client, informerResync)
	metadataInformers := metadatainformer.NewSharedInformerFactory(metadataClient, informerResync)
	informersStarted := make(chan struct{})

	aggregation := clusterroleaggregation.NewClusterRoleAggregation(
		typedInformers.Rbac().V1().ClusterRoles(), client.RbacV1())

	namespaces := namespacecontroller.NewNamespaceController(ctx, client, metadataClient,
		client.Discovery().ServerPreferredNamespacedResources,
		typedInformers.Core().V1().Namespaces(), 5*time.Minute, v1.FinalizerKubernetes)

	gc, err := garbagecollector.NewGarbageCollector(ctx, client, metadataClient, restMapper,
		garbagecollector.DefaultIgnoredResources(),
		informerfactory.NewInformerFactory(typedInformers, metadataInformers), informersStarted)
	if err != nil {
		return fmt.Errorf("garbage collector: %w", err)
	}

	// Informers must be requested (above) before the factories start.
	typedInformers.Start(ctx.Done())
	metadataInformers.Start(ctx.Done())
	close(informersStarted)

	go aggregation.Run(ctx, 2)
	go namespaces.Run(ctx, 4)
	go gc.Run(ctx, 4, 30*time.Second)
	go gc.Sync(ctx, client.Discovery(), gcDiscoveryPeriod)

	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true,
		func(ctx context.Context) (bool, error) {
			for _, name := range []string{"view", "edit", "admin"} {
				role, err := client.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
				if err != nil || len(role.Rules) == 0 {
					return false, nil
				}
			}
			return true, nil
		})
}
